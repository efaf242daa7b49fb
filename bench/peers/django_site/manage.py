#!/usr/bin/env python
"""Django's command line for the peer site (migrate, create_demo_user); configured by PEER_* variables."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
