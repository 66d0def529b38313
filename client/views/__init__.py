"""One module per screen; each builds Flet controls from AppState and calls the Controller."""
