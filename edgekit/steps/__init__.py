"""Build passes as the pipeline runs them: each reads state.current and writes the next file."""
