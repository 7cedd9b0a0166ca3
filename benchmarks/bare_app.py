"""The denominator of the throughput ratio (DESIGN.md section 5): one `async def` route
returning a constant, no middleware, no database."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def constant() -> dict[str, str]:
    return {"status": "ok"}
