"""Reports: DNA tokenizer report (more reports join this folder: fairness, mixture audit, build report)."""
