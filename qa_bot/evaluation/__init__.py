"""Answer-quality evaluation: datasets, metrics, the harness and its reports."""
