"""Reaching the server: SSH (hops, host keys, ~/.ssh/config), tunnels, the Connection protocol.

- ``connection.py``: the ``Connection`` protocol, and ``LocalConnection`` (no SSH)
- ``ssh.py``: ``SshConnection``, one per profile; beside it ``ssh_login.py`` (each hop:
  dial, handshake, host key, login), ``ssh_auth.py`` (password, agent, key files),
  ``ssh_keepalive.py`` (heartbeat, reconnect), ``ssh_exec.py`` (commands),
  ``ssh_docker.py`` (the Docker socket's command and errors), ``ssh_errors.py``
- ``hostkeys.py``: known_hosts, checked before login; ``trust.py``: trusting a new key
- ``sshroute.py``: a profile's route (jump hosts, ProxyCommand) from the profile and
  ``sshconfig.py`` (``ssh -G``'s answer), which reads files with ``sshconfig_reader.py``
  and words with ``sshconfig_syntax.py``
- ``tunnels.py``: local forwarders to SSH channels
- ``loop.py``: ``TunnelLoop``, the asyncio loop whose connections go through a Connection
"""
