"""tryvoha: an open, self-hostable nationwide air-raid alert system."""

__version__ = "0.1.0"
