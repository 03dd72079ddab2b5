from setuptools import setup

# Metadata lives in setup.cfg; this file lets Beam ship the package to workers (--setup_file).
setup()
