"""One Prefect test harness per session. (Filled in by the flow work.)"""
