"""The reference engine under test (llama-cpp-python for GGUF, transformers for SafeTensors), run as
`python -m aprqa_action.reference_engine`. It is the system under test, apart from the harness in execute/
that drives it, and imports nothing of the harness."""
