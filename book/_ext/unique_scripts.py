"""Drop repeated inline scripts from each page.

sphinx-thebe registers its configuration script once per read of the sources; when Jupyter Book reads
them twice the page declares `const THEBE_JS_URL` twice and the browser reports a SyntaxError.
"""


def _unique(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        filename = getattr(script, "filename", script) or ""  # inline scripts come as None or ""
        key = (str(filename), str(getattr(script, "attributes", {}).get("body", "")))
        if key in seen:
            continue
        seen.add(key)
        kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _unique, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
