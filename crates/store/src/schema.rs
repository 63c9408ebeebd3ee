// @generated automatically by Diesel CLI.

diesel::table! {
    customer_reveals (id) {
        id -> Uuid,
        user_id -> Uuid,
        customer_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    customers (id) {
        id -> Uuid,
        org_id -> Uuid,
        name -> Text,
        name_key -> Text,
        country -> Text,
        industry -> Nullable<Text>,
        tax_id -> Nullable<Text>,
        tax_id_key -> Nullable<Text>,
        web_domain -> Nullable<Text>,
        domain_key -> Nullable<Text>,
        registration -> Text,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    deal_registrations (id) {
        id -> Uuid,
        opportunity_id -> Uuid,
        org_id -> Uuid,
        customer_id -> Uuid,
        product_lines -> Array<Text>,
        justification -> Nullable<Text>,
        status -> Text,
        exclusive_until -> Nullable<Date>,
        decision_reason -> Nullable<Text>,
        conflict_ids -> Array<Uuid>,
        submitted_by_user_id -> Uuid,
        decided_by_user_id -> Nullable<Uuid>,
        decided_at -> Nullable<Timestamptz>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    events (seq) {
        seq -> Int8,
        id -> Uuid,
        #[sql_name = "type"]
        type_ -> Text,
        opportunity_id -> Nullable<Uuid>,
        audience -> Array<Uuid>,
        data -> Jsonb,
        created_at -> Timestamptz,
        feed_position -> Nullable<Int8>,
    }
}

diesel::table! {
    external_refs (org_id, kind, resource_id) {
        org_id -> Uuid,
        kind -> Text,
        resource_id -> Uuid,
        external_ref -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_keys (subject, key) {
        subject -> Text,
        key -> Text,
        request_hash -> Text,
        response_status -> Int4,
        response_headers -> Jsonb,
        response_body -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    import_errors (import_id, row, seq) {
        import_id -> Uuid,
        row -> Int4,
        seq -> Int4,
        field -> Nullable<Text>,
        code -> Text,
        message -> Text,
        existing_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    imports (id) {
        id -> Uuid,
        org_id -> Uuid,
        user_id -> Uuid,
        kind -> Text,
        status -> Text,
        body -> Nullable<Text>,
        rows -> Int4,
        processed -> Int4,
        created -> Int4,
        rejected -> Int4,
        failure -> Nullable<Text>,
        lease_until -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    marketing_tasks (id) {
        id -> Uuid,
        name -> Text,
        description -> Nullable<Text>,
        product_lines -> Array<Text>,
        starts_on -> Nullable<Date>,
        ends_on -> Nullable<Date>,
        created_by_user_id -> Uuid,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    notes (id) {
        id -> Uuid,
        opportunity_id -> Uuid,
        author_user_id -> Uuid,
        author_org_id -> Uuid,
        body -> Text,
        internal -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    opportunities (id) {
        id -> Uuid,
        reference_no -> Int8,
        topic -> Text,
        customer_id -> Uuid,
        contact_name -> Nullable<Text>,
        contact_email -> Nullable<Text>,
        contact_phone -> Nullable<Text>,
        contact_title -> Nullable<Text>,
        currency -> Nullable<Text>,
        estimated_revenue -> Nullable<Numeric>,
        expected_close_date -> Nullable<Date>,
        customer_situation -> Nullable<Text>,
        customer_need -> Nullable<Text>,
        proposed_solution -> Nullable<Text>,
        country -> Nullable<Text>,
        industry -> Nullable<Text>,
        product_lines -> Array<Text>,
        marketing_task_id -> Nullable<Uuid>,
        origin -> Text,
        status -> Text,
        owner_org_id -> Uuid,
        owner_user_id -> Uuid,
        primary_partner_id -> Nullable<Uuid>,
        pipeline_phase -> Nullable<Text>,
        win_probability -> Nullable<Int2>,
        accept_by -> Nullable<Timestamptz>,
        expires_on -> Nullable<Date>,
        extension_count -> Int4,
        close_reason -> Nullable<Text>,
        actual_revenue -> Nullable<Numeric>,
        closed_at -> Nullable<Timestamptz>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by_user_id -> Uuid,
        auto_assignments -> Int4,
        reassign_pending -> Bool,
        collaborator_ids -> Array<Uuid>,
        close_reason_code -> Nullable<Text>,
        search_text -> Text,
        customer_name -> Text,
        customer_org_id -> Uuid,
    }
}

diesel::table! {
    opportunity_collaborators (opportunity_id, org_id) {
        opportunity_id -> Uuid,
        org_id -> Uuid,
        added_at -> Timestamptz,
    }
}

diesel::table! {
    opportunity_changes (id) {
        id -> Uuid,
        opportunity_id -> Uuid,
        actor_user_id -> Nullable<Uuid>,
        actor_org_id -> Nullable<Uuid>,
        status -> Text,
        changes -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    opportunity_events (id) {
        id -> Uuid,
        opportunity_id -> Uuid,
        actor_user_id -> Nullable<Uuid>,
        action -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        reason -> Nullable<Text>,
        created_at -> Timestamptz,
        actor_org_id -> Nullable<Uuid>,
        partner_org_id -> Nullable<Uuid>,
        changes -> Jsonb,
        reason_code -> Nullable<Text>,
    }
}

diesel::table! {
    opportunity_marks (mark, opportunity_id) {
        mark -> Text,
        opportunity_id -> Uuid,
        search_text -> Text,
    }
}

diesel::table! {
    opportunity_versions (opportunity_id, version) {
        opportunity_id -> Uuid,
        version -> Int4,
        fields -> Array<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    orgs (id) {
        id -> Uuid,
        name -> Text,
        kind -> Text,
        parent_id -> Nullable<Uuid>,
        active -> Bool,
        countries -> Array<Text>,
        industries -> Array<Text>,
        product_lines -> Array<Text>,
        tier -> Text,
        capacity -> Int4,
        accepting -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        last_assigned_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    policies (id) {
        id -> Int2,
        acceptance_window_hours -> Int4,
        auto_reassign -> Bool,
        max_auto_reassignments -> Int4,
        max_extensions -> Int4,
        max_extension_days -> Int4,
        registration_exclusivity_days -> Int4,
        opportunity_validity_days -> Int4,
        weight_country -> Int4,
        weight_industry -> Int4,
        weight_product_lines -> Int4,
        weight_tier -> Int4,
        weight_capacity -> Int4,
        weight_history -> Int4,
        version -> Int4,
        updated_at -> Timestamptz,
        reason_codes -> Array<Text>,
    }
}

diesel::table! {
    progress_entries (id) {
        id -> Uuid,
        opportunity_id -> Uuid,
        author_user_id -> Uuid,
        author_org_id -> Uuid,
        development_phase -> Text,
        win_probability -> Int2,
        technical_exchange -> Nullable<Text>,
        test_details -> Nullable<Text>,
        progress_details -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        subject -> Text,
        org_id -> Uuid,
        role -> Text,
        name -> Text,
        email -> Text,
        active -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Uuid,
        webhook_id -> Uuid,
        event_id -> Uuid,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        lease_until -> Nullable<Timestamptz>,
        last_status_code -> Nullable<Int4>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Uuid,
        org_id -> Uuid,
        url -> Text,
        event_types -> Array<Text>,
        secret -> Text,
        active -> Bool,
        created_by_user_id -> Uuid,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(customer_reveals -> customers (customer_id));
diesel::joinable!(customer_reveals -> users (user_id));
diesel::joinable!(customers -> orgs (org_id));
diesel::joinable!(deal_registrations -> customers (customer_id));
diesel::joinable!(deal_registrations -> opportunities (opportunity_id));
diesel::joinable!(deal_registrations -> orgs (org_id));
diesel::joinable!(events -> opportunities (opportunity_id));
diesel::joinable!(external_refs -> orgs (org_id));
diesel::joinable!(import_errors -> imports (import_id));
diesel::joinable!(imports -> orgs (org_id));
diesel::joinable!(imports -> users (user_id));
diesel::joinable!(marketing_tasks -> users (created_by_user_id));
diesel::joinable!(notes -> opportunities (opportunity_id));
diesel::joinable!(notes -> orgs (author_org_id));
diesel::joinable!(notes -> users (author_user_id));
diesel::joinable!(opportunities -> customers (customer_id));
diesel::joinable!(opportunities -> marketing_tasks (marketing_task_id));
diesel::joinable!(opportunity_collaborators -> opportunities (opportunity_id));
diesel::joinable!(opportunity_collaborators -> orgs (org_id));
diesel::joinable!(opportunity_changes -> opportunities (opportunity_id));
diesel::joinable!(opportunity_changes -> orgs (actor_org_id));
diesel::joinable!(opportunity_changes -> users (actor_user_id));
diesel::joinable!(opportunity_events -> opportunities (opportunity_id));
diesel::joinable!(opportunity_events -> users (actor_user_id));
diesel::joinable!(opportunity_versions -> opportunities (opportunity_id));
diesel::joinable!(progress_entries -> opportunities (opportunity_id));
diesel::joinable!(progress_entries -> orgs (author_org_id));
diesel::joinable!(progress_entries -> users (author_user_id));
diesel::joinable!(users -> orgs (org_id));
diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(webhooks -> orgs (org_id));
diesel::joinable!(webhooks -> users (created_by_user_id));

diesel::allow_tables_to_appear_in_same_query!(
    customer_reveals,
    customers,
    deal_registrations,
    events,
    external_refs,
    idempotency_keys,
    import_errors,
    imports,
    marketing_tasks,
    notes,
    opportunities,
    opportunity_collaborators,
    opportunity_changes,
    opportunity_events,
    opportunity_marks,
    opportunity_versions,
    orgs,
    policies,
    progress_entries,
    users,
    webhook_deliveries,
    webhooks,
);
