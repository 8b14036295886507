"""Who may do what: the principal the server established for a request, and what each role allows."""
