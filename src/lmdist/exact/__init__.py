"""The mathematics the book teaches: numpy and scipy only, one module per concept; imports nothing else of lmdist."""
