"""Build the native kernel (canonical JSON text, multi-lane SHA-256, chain segments).

The extension is optional: without a C compiler the package installs anyway and runs its
pure-Python kernel (``audit_analytics.chain._pykernel``), slower, with the same results.
"""

from glob import glob

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "audit_analytics.chain._native",
            sources=sorted(glob("audit_analytics/chain/native/*.c")),
            depends=sorted(glob("audit_analytics/chain/native/*.h")),
            include_dirs=["audit_analytics/chain/native"],
            extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wno-unused-function"],
            extra_link_args=["-lpthread"],
            optional=True,
        )
    ]
)
