"""apr-qa-action: qualify an LLM model with an inference engine before it ships."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aprqa-action")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+src"
