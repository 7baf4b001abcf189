import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The workers share 2 CPU cores with MuJoCo and other suites."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
