-- Seeded roles and privileges. A privilege is (HTTP method, route pattern as the router matches
-- it); '*' matches any. Ownership (an agent edits only their own houses) is checked in the handler.
INSERT INTO roles (name, intro) VALUES
    ('admin', 'everything, including the admin API'),
    ('agent', 'publishes houses; edits and deletes their own'),
    ('user',  'reads listings and their own profile');

INSERT INTO privileges (method, route, intro) VALUES
    ('*',      '*',                     'everything'),
    ('GET',    '/api/users/me/',        'own profile'),
    ('POST',   '/api/houses/',          'publish a house'),
    ('PATCH',  '/api/houses/{id}/',     'edit a house (own only unless admin)'),
    ('DELETE', '/api/houses/{id}/',     'delete a house (own only unless admin)');

INSERT INTO role_privileges (role_id, privilege_id)
SELECT r.id, p.id FROM roles r JOIN privileges p
WHERE (r.name = 'admin' AND p.method = '*' AND p.route = '*')
   OR (r.name = 'agent' AND p.route IN ('/api/users/me/', '/api/houses/', '/api/houses/{id}/'))
   OR (r.name = 'user'  AND p.route = '/api/users/me/');
