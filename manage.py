#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")
    from mall.metrics_dir import use_host_directory

    # Every process of the host records into its metrics directory (see mall/metrics_dir.py).
    use_host_directory()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
