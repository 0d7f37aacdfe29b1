"""Attribution methods behind one API. Importing this package registers the built-ins."""
from .registry import MethodInfo, attribute, available_methods, get_method, list_methods, register_method

__all__ = ["MethodInfo", "attribute", "available_methods", "get_method", "list_methods", "register_method"]
