//! Support for kernel tests: privilege, throwaway namespaces, frame capture.
