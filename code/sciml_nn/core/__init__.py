"""The shared core of the book's package: what every chapter uses."""
