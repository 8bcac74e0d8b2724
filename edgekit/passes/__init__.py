"""Optimisation passes: plain functions from one model file to another."""
