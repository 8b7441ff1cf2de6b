"""MANTIS: timelocked embedding payloads scored per challenge (binary salience, clones, bootstrap, panels)."""
