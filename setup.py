"""Build the native kernel (canonical JSON text, multi-lane SHA-256, chain segments)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "audit_analytics._native",
            sources=["audit_analytics/_native.c"],
            extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wno-unused-function"],
            extra_link_args=["-lpthread"],
        )
    ]
)
