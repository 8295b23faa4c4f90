"""Parse the project's settings file.

Two formats are in use: the old `key = value` lines and the new `key: value` lines.
"""


def parse_config(text):
    settings = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, value = line.split("=", 1)
        settings[key.strip()] = value.strip()
    return settings
