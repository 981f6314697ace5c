"""The Qt widgets. They mirror the core (``playground.core``) and hold no state of their own."""
