"""Per-module dependencies of the flow runner's modules.

:mod:`.declared` reads what a module declares (Python requirement specifiers, Node.js
``package.json``-style ranges) and refuses, with the reason, anything that is not a
package name and a version constraint, before an installer sees it.
"""
