"""Deployable bundles: an artefact plus everything an app needs, checksummed by a manifest."""
