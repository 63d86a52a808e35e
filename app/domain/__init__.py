"""Plain data and pure rules shared by every layer; imports nothing of the project."""
