"""Speed and memory at realistic scale; each module's `run()` returns a JSON-able dict."""
