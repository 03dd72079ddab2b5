from setuptools import find_packages, setup

# Metadata lives in setup.cfg. The packages are listed here because `configs/` ships inside the
# package as `idphoto.configs`, so an installed wheel (a Beam worker, a training machine) has the
# project's default policy, ingest, training, promotion and preset settings without a clone.
# This file also lets Beam ship the package to remote workers (--setup_file).
CONFIG_PACKAGES = ["idphoto.configs", "idphoto.configs.train", "idphoto.configs.promote"]

setup(
    packages=[
        *find_packages(include=["idphoto", "idphoto.*", "pipelines", "pipelines.*"]),
        *CONFIG_PACKAGES,
    ],
    package_dir={"idphoto.configs": "configs"},
    package_data={package: ["*.yaml"] for package in CONFIG_PACKAGES},
)
