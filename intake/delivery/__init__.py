"""How pages and files travel to a phone on a 2G link: static files under hashed names cached for a
year (`static_files`), compression only where it cannot leak a secret (`compression`), and CSRF
tokens that differ in every response (`csrf_tokens`). See docs/page-weight.md."""
