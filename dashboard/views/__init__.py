"""Page scripts that dashboard/app.py hands to st.navigation."""
