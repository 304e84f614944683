"""Builds the Cython example against the installed sepcpp: python setup.py build_ext --inplace"""
from Cython.Build import cythonize
from setuptools import Extension, setup

import sepcpp

setup(
    name="sepcpp_cython_example",
    ext_modules=cythonize(
        [Extension("sepcpp_cython_example", ["sepcpp_cython_example.pyx"], **sepcpp.cython_extension_kwargs())],
        include_path=[],  # `cimport sepcpp` is found on sys.path (the installed package's __init__.pxd)
    ),
)
