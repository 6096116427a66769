"""The operations: plain async functions that check permissions, validate and do the work.

Both transports (schema/ for GraphQL, rest_compat/ for REST) call these and only translate.
"""
