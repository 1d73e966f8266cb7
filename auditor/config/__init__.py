"""Suite files and the user-facing error every layer raises."""
