import unittest

from src.parser import parse_config


class ParseConfigTest(unittest.TestCase):
    def test_old_format(self):
        self.assertEqual(parse_config("name = potato\nsize = 3"), {"name": "potato", "size": "3"})

    def test_new_format(self):
        self.assertEqual(parse_config("name: potato\n# comment\nsize: 3"), {"name": "potato", "size": "3"})


if __name__ == "__main__":
    unittest.main()
