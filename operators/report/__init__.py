"""Reports: DNA tokenizer report (more reports join this folder: fairness, mixture audit, build report)."""

from tokenmill.operators.report.fairness import FairnessConfig, fairness_report, load_fairness, load_parallel, score_languages

__all__ = ["FairnessConfig", "fairness_report", "load_fairness", "load_parallel", "score_languages"]
