"""The web app: public pages, owners' link pages, planners' and leaders' pages."""

from tindak.web.app import create_app

__all__ = ["create_app"]
