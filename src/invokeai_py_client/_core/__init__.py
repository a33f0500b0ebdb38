"""The I/O-free core both clients run: routes and calls (``calls``), the operations on
them (``app_ops``, ``model_ops``, ``job_ops``, with ``arguments``), answers into types
(``parsing``), settings and defaults (``settings``), sending rules (``exchange``,
``retry``, ``session``), and the plans of waits (``wait_plan``, ``job_state``) and
manifests (``manifest_plan``, ``manifest_apply``). Nothing here sends or sleeps."""
