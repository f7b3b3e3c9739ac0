"""The browser UI: aiohttp serves web/dist (built by `npm run build` in web/)."""
