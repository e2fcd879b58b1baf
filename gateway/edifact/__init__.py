"""UN/EDIFACT engine: streaming tokenizer, directory-driven validation and CONTRL."""
