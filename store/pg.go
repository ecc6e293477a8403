package store

import (
	"context"
	"fmt"
)

// openPG opens a PostgreSQL store: it migrates an older schema only when
// no other sewa is using the database, then holds the running lock shared
// for as long as it is open.
func openPG(ctx context.Context, dsn string, opt OpenOptions) (*Store, error) {
	db, err := openPostgres(dsn)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, pg: true}
	fail := func(err error) (*Store, error) {
		s.run.close()
		db.Close()
		return nil, fmt.Errorf("open %s: %w", RedactURL(dsn), err)
	}
	if err := db.PingContext(ctx); err != nil {
		return fail(err)
	}
	current, err := s.storedVersion(ctx)
	if err != nil {
		return fail(err)
	}
	if latest := Latest(); current < latest && !opt.NoMigrate {
		h, ok, err := tryExclusive(ctx, db)
		if err != nil {
			return fail(err)
		}
		if !ok {
			return fail(fmt.Errorf("%w: the schema is at version %d and this sewa needs %d, which cannot change under running processes; "+
				"stop them, run `sewa migrate`, then start them all with this version", ErrInUseByOthers, current, latest))
		}
		err = s.migrate(ctx)
		h.close()
		if err != nil {
			return fail(err)
		}
	}
	if s.run, err = holdRunning(ctx, db); err != nil {
		return fail(err)
	}
	// Checked under the lock: a newer sewa may have migrated meanwhile.
	if err := s.checkVersion(ctx); err != nil {
		return fail(err)
	}
	return s, nil
}

// Migrate brings the database named by dsn (a SQLite file or a PostgreSQL
// URL) to this program's schema and reports the versions before and after.
// On PostgreSQL it refuses with ErrInUseByOthers while any sewa process has
// the database open; a newer schema is refused with ErrNewerSchema.
func Migrate(ctx context.Context, dsn string) (from, to int, err error) {
	s := &Store{pg: IsPostgres(dsn)}
	if s.pg {
		s.db, err = openPostgres(dsn)
	} else {
		s.db, err = openSQLite(dsn)
	}
	if err != nil {
		return 0, 0, err
	}
	defer s.db.Close()
	if from, err = s.storedVersion(ctx); err != nil {
		return from, from, err
	}
	if s.pg {
		h, ok, err := tryExclusive(ctx, s.db)
		if err != nil {
			return from, from, err
		}
		if !ok {
			return from, from, fmt.Errorf("%w: stop every sewa on %s first, then migrate", ErrInUseByOthers, RedactURL(dsn))
		}
		defer h.close()
	}
	if err := s.migrate(ctx); err != nil {
		return from, from, err
	}
	to, err = s.storedVersion(ctx)
	return from, to, err
}
