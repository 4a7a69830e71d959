"""Tests of ``responses-ws bench`` (conformance/bench)."""
