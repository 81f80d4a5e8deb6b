"""PyTorch training of sparse ternary networks; exports ``net.pt``."""
