from tests.core.probe.conftest import bench_with  # noqa: F401  (an environment of packages made for one test)
