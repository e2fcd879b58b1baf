"""Compiler from the original UNECE directory text files to the JSON the validator loads."""
