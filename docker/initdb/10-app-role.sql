-- The application's role: an ordinary one, as production's, so that
-- superuser_reserved_connections applies to it (a superuser would reach 99
-- of 100 where the service reached 96). pg_monitor lets it read every
-- session's state in pg_stat_activity without being a superuser.
CREATE ROLE app LOGIN PASSWORD 'app' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
GRANT pg_monitor TO app;
CREATE DATABASE app OWNER app;
