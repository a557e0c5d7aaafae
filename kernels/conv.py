"""placeholder"""
def conv2d(*a): pass
def conv_transpose2d(*a): pass
