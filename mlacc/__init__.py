"""mlacc: a compiler and cost model for attention layers (MHA, GQA, MQA, MLA) on AI hardware."""

__version__ = "0.1.0"
